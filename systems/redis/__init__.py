"""Redis with Sentinel as a system under test: deployment (``deploy``), the wire protocol
(``resp``) and a client that follows the Sentinel-elected primary (``client``)."""
