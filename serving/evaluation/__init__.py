"""Offline evaluation of targeting: policies compared on a held-out campaign."""
