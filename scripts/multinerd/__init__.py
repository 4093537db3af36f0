"""The importable core of the xx_multinerd project: label scheme, readers, conversion and scoring.

The scripts in ../ are thin command-line programs over this package; the tests import it directly.
"""
