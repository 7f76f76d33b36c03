"""What runs inside the sandbox (bubblewrap), and nothing else: the worker loop, the wire format
and its framing, the training recipes and the probes. Mounted read-only into every worker
beside :mod:`tpcheck`, the only package of the project it imports."""
