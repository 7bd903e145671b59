"""pipetune's version, in a module of its own so that code inside the package (generated
Tasks name the image by it) reads it without importing the root package."""

__version__ = "0.1.0"
