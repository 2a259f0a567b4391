"""What the nodes of a cluster agree on besides stored messages: who is
online and where (``peers``, ``node``), names (``names``), rate limits
(``limits``), on the bus and on Redis (``shared``)."""
