"""Point-in-time feature families: each turns the tables known before a cutoff into columns."""
