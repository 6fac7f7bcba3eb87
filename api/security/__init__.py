"""Signing keys, JWTs and password hashing for the HTTP API."""
