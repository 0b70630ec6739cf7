"""Validators and hosts on separate machines: the same signed bytes over ZeroMQ with CurveZMQ.

``io`` owns the sockets (one thread per node or client), ``curve`` and ``zap`` authenticate
peers by the Ed25519 keys of the genesis, ``transport`` is the validators' ``Transport``, and
``service`` with ``protocol`` and ``queries`` serves remote hosts.
"""
