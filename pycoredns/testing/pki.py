"""A throwaway CA and certificates for TLS tests, made with the openssl command-line tool
(so the tests need no crypto library of their own)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HAVE_OPENSSL = shutil.which("openssl") is not None


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(cwd: Path, subject: str = "pycoredns test CA") -> None:
    """``ca.pem`` and ``ca.key`` (P-256, one day) in ``cwd``."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", f"/CN={subject}", cwd=cwd)


def make_leaf(cwd: Path, name: str, subject: str, san: str) -> None:
    """``NAME.pem`` and ``NAME.key`` signed by the CA of ``cwd``; ``san`` as openssl writes it
    (``DNS:dns.test,IP:127.0.0.1``)."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={subject}", cwd=cwd)
    (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=cwd)
