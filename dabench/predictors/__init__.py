"""Benefit predictors: built-ins and their held-out evaluation."""
