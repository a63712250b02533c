"""Detectors: text, media and finance. Each returns ``rasd.model.Detection``s.

See ``rasd.detect.base.Detector`` for the interface and ``rasd.detect.scan`` for
the runner behind ``rasd scan``.
"""
