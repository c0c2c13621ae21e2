"""pycoredns's built-in plugins, one package per directive (installed as ``pycoredns.plugins``)."""
