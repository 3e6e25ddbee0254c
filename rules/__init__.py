"""The rule engine (Sigma detection and correlation, indicator matching) and the shipped rules."""
