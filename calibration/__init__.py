"""Calibration of the model to the article's 2000-2023 record (ABC-SMC with pyabc): see the calibration issue."""
