"""Plotting and widget helpers used by the chapters; each returns a figure or a widget."""
