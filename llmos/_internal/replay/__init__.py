"""Follower replay: running a learned trace's steps again in Python, with no model."""
