"""TIKETI engine: waiting rooms and seat inventories for flash-crowd ticket sales, on Ray."""

__version__ = "0.1.0"
