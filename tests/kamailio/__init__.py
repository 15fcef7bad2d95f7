"""Kamailio in front of several call workers."""
