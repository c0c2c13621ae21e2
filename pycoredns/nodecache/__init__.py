"""The node-cache program and the node's network setup it shares with the bind plugin.

``netif`` (the dummy interface), ``iptables`` (backend, the rule list, check/insert/delete),
``netsetup`` (the two together: ensure, periodic sync, teardown) and ``errors_metric``
(``coredns_nodecache_setup_errors_total``). Submodules are imported by their users; this package
imports nothing so that ``import pycoredns.nodecache.x`` stays cheap.
"""
