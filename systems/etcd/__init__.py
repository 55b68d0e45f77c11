"""etcd 3.4 as a system under test: deployment (``deploy``), its JSON gateway (``gateway``)
and a client bound to one member (``client``)."""
