"""Evaluation: seqeval scores, the entity scores' reliability and calibration, the learning curve."""
