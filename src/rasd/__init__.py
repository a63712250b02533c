"""rasd (رصد, "monitoring"): find violent-extremist and terrorist content online and
the account networks that spread it, and turn that into evidence.

The library is one pipeline, each stage a package with one job:
ingest → store → detect (text, media, finance) → accounts → network → review → report.
The CLI (``rasd ...``) and the web console are thin layers over it.
"""

__version__ = "0.1.0"
