"""Monitoring of the served models: drift (PSI), the monitor run, its data and figures."""
