"""Beam transforms and the plain functions behind them, one concern a module."""
