"""Load and cost measurements of pycoredns against unbound and dnsmasq (see README.md)."""
