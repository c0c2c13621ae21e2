"""The kube-dns ConfigMap folder, validation, polling both folders, last good Corefile, error counter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pycoredns.nodecache import errors_metric
from pycoredns.nodecache.kubedns import (
    ConfigMapError,
    KubeDNSConfig,
    parse_config,
    read_dir,
    validate_for_node_cache,
)
from pycoredns.nodecache.template import TemplateValues
from pycoredns.nodecache.watch import ConfigSync, CorefileWriter
from pycoredns.testing.logs import CapturedLog
from tests.nodecache.netns_kit import mount_configmap

BASE = ".:53 {\n    errors\n    bind __PILLAR__LOCAL__DNS__\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n"


def test_read_dir_skips_hidden_and_follows_links(tmp_path: Path) -> None:
    mount_configmap(tmp_path / "kd", {"stubDomains": '{"acme.local": ["1.2.3.4"]}'})
    snap = read_dir(str(tmp_path / "kd"))
    assert snap.data == {"stubDomains": '{"acme.local": ["1.2.3.4"]}'}
    assert len(snap.version) == 64
    assert read_dir(str(tmp_path / "kd")).version == snap.version
    mount_configmap(tmp_path / "kd", {"stubDomains": '{"acme.local": ["1.2.3.5"]}'})
    assert read_dir(str(tmp_path / "kd")).version != snap.version


def test_read_dir_empty_has_empty_version(tmp_path: Path) -> None:
    assert read_dir(str(tmp_path)).version == ""


def test_read_dir_rejects_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "stubDomains").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigMapError, match="non-utf8 data in"):
        read_dir(str(tmp_path))


def test_parse_config_fields() -> None:
    cfg = parse_config({
        "stubDomains": '{"acme.local": ["1.2.3.4"], "widget.local": ["2.2.2.2:10053", "3.3.3.3"]}',
        "upstreamNameservers": '["8.8.8.8", "8.8.4.4"]',
        "federations": "myfed=example.com",
    })
    assert cfg.stub_domains == {"acme.local": ["1.2.3.4"], "widget.local": ["2.2.2.2:10053", "3.3.3.3"]}
    assert cfg.upstream_nameservers == ["8.8.8.8", "8.8.4.4"]
    assert cfg.federations == {"myfed": "example.com"}


@pytest.mark.parametrize(
    "data, message",
    [
        pytest.param({"stubDomains": "{not json"}, "Invalid JSON", id="bad-json"),
        pytest.param({"stubDomains": '{"Acme_Local": ["1.2.3.4"]}'}, 'invalid domain name: "Acme_Local"',
                     id="bad-domain"),
        pytest.param({"stubDomains": '{"acme.local": ["1.2.3.4:99999"]}'}, 'invalid nameserver: "1.2.3.4:99999"',
                     id="bad-stub-port"),
        pytest.param({"upstreamNameservers": '["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]'},
                     "upstreamNameserver cannot have more than three entries", id="too-many-upstreams"),
        pytest.param({"upstreamNameservers": '["dns.example.com"]'},
                     "address dns.example.com: missing port in address", id="upstream-name"),
        pytest.param({"upstreamNameservers": '["1.1.1.1:0"]'}, 'bad port number: "0"', id="upstream-port-0"),
        pytest.param({"federations": "bad"}, "invalid format, must be key=value", id="bad-federations"),
    ],
)
def test_parse_config_rejects(data: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigMapError, match=message):
        parse_config(data)


def test_node_cache_rejects_fqdn_stub_nameserver() -> None:
    # kube-dns accepts a hostname as stub nameserver; forward cannot dial it (kubernetes/dns#539).
    cfg = parse_config({"stubDomains": '{"acme.local": ["ns.acme.local"]}'})
    with pytest.raises(ConfigMapError) as e:
        validate_for_node_cache(cfg)
    assert str(e.value).startswith('invalid nameservers [ns.acme.local] for the stub domain acme.local: not an IP')


@pytest.mark.parametrize(
    "servers",
    [
        pytest.param(["1.2.3.4"], id="ip"),
        pytest.param(["1.2.3.4:53", "[fd00::1]:53"], id="ip-port"),
        pytest.param(["tls://1.1.1.1"], id="tls"),
        pytest.param(["/etc/hosts"], id="existing-file"),
    ],
)
def test_node_cache_accepts_forward_targets(servers: list[str]) -> None:
    validate_for_node_cache(KubeDNSConfig(stub_domains={"a.local": servers}))


def test_node_cache_rejects_other_transports() -> None:
    with pytest.raises(ConfigMapError, match="unsupported transport grpc of nameserver grpc://1.1.1.1"):
        validate_for_node_cache(KubeDNSConfig(upstream_nameservers=["grpc://1.1.1.1"]))


def _setup(tmp_path: Path, reloads: list[int]) -> tuple[ConfigSync, Path, Path, Path]:
    base_dir, kd, out = tmp_path / "coredns", tmp_path / "kube-dns", tmp_path / "Corefile"
    mount_configmap(base_dir, {"Corefile.base": BASE})
    writer = CorefileWriter(str(base_dir / "Corefile.base"), str(out), TemplateValues(local_ips=["169.254.20.10"]),
                            on_written=lambda: reloads.append(1))
    return ConfigSync(writer, str(kd), period=0.01), base_dir, kd, out


def test_sync_start_without_kubedns_folder(tmp_path: Path, coredns_log: CapturedLog) -> None:
    reloads: list[int] = []
    base_dir = tmp_path / "coredns"
    mount_configmap(base_dir, {"Corefile.base": BASE})
    writer = CorefileWriter(str(base_dir / "Corefile.base"), str(tmp_path / "Corefile"),
                            TemplateValues(local_ips=["169.254.20.10"]), on_written=lambda: reloads.append(1))
    sync = ConfigSync(writer, "", period=0.01)
    if sync.kubedns is not None:
        pytest.skip("/etc/kube-dns exists on this machine")
    sync.start()
    assert "Skipping kube-dns configmap sync as no directory was specified" in coredns_log.text
    want = ".:53 {\n    errors\n    bind 169.254.20.10\n    forward . /etc/resolv.conf\n}\n"
    assert (tmp_path / "Corefile").read_text() == want
    assert "Updated Corefile with 0 custom stubdomains and upstream servers /etc/resolv.conf" in coredns_log.text
    assert "Using config file:\n.:53 {" in coredns_log.text
    assert reloads == [1]


def test_kubedns_change_adds_stub_block_and_bad_config_keeps_last_good(
    tmp_path: Path, coredns_log: CapturedLog
) -> None:
    reloads: list[int] = []
    sync, _, kd, out = _setup(tmp_path, reloads)
    mount_configmap(kd, {"upstreamNameservers": '["10.1.1.1"]'})
    sync.start()
    assert "forward . 10.1.1.1\n" in out.read_text()
    assert sync.check_once() is False  # nothing changed

    mount_configmap(kd, {"stubDomains": '{"acme.local": ["127.0.0.1:5353"]}'})
    assert sync.check_once() is True
    text = out.read_text()
    stub = "\nacme.local:53 {\n    errors\n    cache 30\n    bind 169.254.20.10\n    forward . 127.0.0.1:5353\n}\n"
    assert stub in text
    assert "forward . /etc/resolv.conf" in text
    good, good_reloads = text, len(reloads)

    before = errors_metric.value(errors_metric.CONFIGMAP)
    mount_configmap(kd, {"stubDomains": "{broken"})
    assert sync.check_once() is False
    assert out.read_text() == good and len(reloads) == good_reloads
    assert errors_metric.value(errors_metric.CONFIGMAP) == before + 1

    mount_configmap(kd, {"stubDomains": '{"acme.local": ["ns.acme.local"]}'})  # valid kube-dns, bad for forward
    assert sync.check_once() is False
    assert out.read_text() == good
    assert errors_metric.value(errors_metric.CONFIGMAP) == before + 2
    assert "Invalid config: invalid nameservers [ns.acme.local] for the stub domain acme.local" in coredns_log.text

    mount_configmap(kd, {"stubDomains": '{"other.local": ["127.0.0.2"]}'})
    assert sync.check_once() is True
    assert "other.local:53" in out.read_text() and "acme.local" not in out.read_text()


def test_template_change_regenerates_with_latest_kubedns(tmp_path: Path) -> None:
    reloads: list[int] = []
    sync, base_dir, kd, out = _setup(tmp_path, reloads)
    mount_configmap(kd, {"stubDomains": '{"acme.local": ["127.0.0.1"]}'})
    sync.start()
    mount_configmap(base_dir, {"Corefile.base": BASE.replace("errors", "errors\n    log")})
    assert sync.check_once() is True
    text = out.read_text()
    assert "    log\n" in text and "acme.local:53" in text


def test_unreadable_template_keeps_corefile_and_counts(tmp_path: Path, coredns_log: CapturedLog) -> None:
    reloads: list[int] = []
    sync, base_dir, _, out = _setup(tmp_path, reloads)
    sync.start()
    good = out.read_text()
    before = errors_metric.value(errors_metric.CONFIGMAP)
    mount_configmap(base_dir, {"Other": "x"})  # the Corefile.base key went away
    assert sync.check_once() is False
    assert out.read_text() == good
    assert errors_metric.value(errors_metric.CONFIGMAP) == before + 1
    assert f"Failed to read node-cache coreFile {base_dir}/Corefile.base" in coredns_log.text


def test_write_failure_is_counted(tmp_path: Path, coredns_log: CapturedLog) -> None:
    (tmp_path / "Corefile.base").write_text(BASE)
    writer = CorefileWriter(str(tmp_path / "Corefile.base"), str(tmp_path / "missing" / "Corefile"),
                            TemplateValues(local_ips=["169.254.20.10"]))
    before = errors_metric.value(errors_metric.CONFIGMAP)
    assert writer.update(KubeDNSConfig()) is False
    assert errors_metric.value(errors_metric.CONFIGMAP) == before + 1
    assert f"Failed to write config file {tmp_path}/missing/Corefile - err" in coredns_log.text


def test_generated_file_mode(tmp_path: Path) -> None:
    (tmp_path / "Corefile.base").write_text(BASE)
    old = os.umask(0)
    try:
        CorefileWriter(str(tmp_path / "Corefile.base"), str(tmp_path / "Corefile"),
                       TemplateValues(local_ips=["169.254.20.10"])).update(KubeDNSConfig())
    finally:
        os.umask(old)
    assert (tmp_path / "Corefile").stat().st_mode & 0o777 == 0o666


def test_json_roundtrip_of_example_configmap() -> None:
    data = {"stubDomains": json.dumps({"corp.example": ["10.2.2.2"]}), "upstreamNameservers": '["10.1.1.1"]'}
    cfg = parse_config(data)
    validate_for_node_cache(cfg)
    assert cfg.stub_domains == {"corp.example": ["10.2.2.2"]}
