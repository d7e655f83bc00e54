"""Tooling for the GPU ("device") machine a session may be lent for 15 minutes: the bundle of
what the device lacks (:mod:`.bundle`: wheels, compact datasets, the size check of a call, the
wheel-set proof, CIFAR-10's chunked carry). ``python -m tools.device <verb>`` from a checkout.
"""
