"""The HTML retention report: its sections, blocks, figures and the portfolio tables."""
