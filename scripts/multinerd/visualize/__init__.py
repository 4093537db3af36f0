"""The visualizer: the streamlit page."""
