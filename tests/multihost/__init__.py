"""The several-hosts fault test (its harness and checks)."""
