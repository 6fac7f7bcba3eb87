"""The Terraform of the AWS estate (terraform/), checked offline.

Every .tf file is parsed (python-hcl2) and the seed's section 7 is asserted on the parsed
configuration: who may reach which security group on which port, that the data stores have no
egress and no public path, encryption at rest and in transit, the WAF rules and their limits,
where the secrets come from, and the node groups. Values are followed from a module's
`var.x` to the root module's call and from there to the root variable's default, so the
assertions hold for the configuration as deployed with the defaults (the seed's figures).

Then `terraform fmt -check`, checkov (the one TIKETI_CHECKOV names; `make test` installs it in
.venv-checkov/), `terraform validate` of the modules whose providers are in a local provider
mirror, and the contract with the rendered RayService manifest (kuberay/rayservice.yaml): the
secret it reads, the Serve port, the node sizes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from hcl2.api import load as load_hcl

REPO = Path(__file__).resolve().parents[2]
TF = REPO / "terraform"
MODULES = TF / "modules"
RAYSERVICE = REPO / "kuberay" / "rayservice.yaml"

ALL_TF = sorted(TF.rglob("*.tf"))
REF = re.compile(r"^\$\{(.+)\}$")
ANYWHERE = {"0.0.0.0/0", "::/0"}


# --- Loading and resolving ----------------------------------------------------------------


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        parsed: dict[str, Any] = load_hcl(f)
    return parsed


@cache
def blocks(mod: str) -> dict[str, list[Any]]:
    """Every top-level block of a module directory ("root" for terraform/ itself)."""
    directory = TF if mod == "root" else MODULES / mod
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, items in parse(path).items():
            merged.setdefault(kind, []).extend(items)
    return merged


def named(mod: str, kind: str) -> dict[str, Any]:
    """Blocks with one label (variable, module, output) of a module, by name."""
    out: dict[str, Any] = {}
    for item in blocks(mod).get(kind, []):
        out.update(item)
    return out


def resources(mod: str, rtype: str, kind: str = "resource") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in blocks(mod).get(kind, []):
        out.update(item.get(rtype, {}))
    return out


def all_resources(rtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for mod in ["root", *sorted(p.name for p in MODULES.iterdir() if p.is_dir())]:
        for name, body in resources(mod, rtype).items():
            out[f"{mod}.{name}"] = body
    return out


def call(mod: str) -> dict[str, Any]:
    """The root module's call of modules/<mod>."""
    calls = named("root", "module")
    assert calls[mod]["source"] == f"./modules/{mod}"
    body: dict[str, Any] = calls[mod]
    return body


def value(mod: str, v: Any) -> Any:
    """Follow `${var.x}` (and `${var.x.attr}`) from a module to the root defaults; any other
    expression is returned as written."""
    if not isinstance(v, str) or not (m := REF.match(v)):
        return v
    path = m.group(1).split(".")
    if path[0] != "var":
        return v
    if mod == "root":
        resolved: Any = named("root", "variable")[path[1]].get("default")
    else:
        resolved = value("root", call(mod)[path[1]])
    for attr in path[2:]:
        resolved = resolved[attr]
    return resolved


def one(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The single nested block `key` of a parsed block."""
    items = body[key]
    assert isinstance(items, list) and len(items) == 1, key
    block: dict[str, Any] = items[0]
    return block


def sg_name(ref: str) -> str:
    m = re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", ref)
    assert m, ref
    return m.group(1)


# --- Security group rules, normalised -----------------------------------------------------

Rule = tuple[str, str, str, int | None, int | None, str]  # group, direction, proto, from, to, peer


def expand(mod: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """A rule resource's instances: for_each over a root variable or a literal list."""
    if "for_each" not in body:
        return [body]
    expr = body["for_each"]
    if m := re.search(r"var\.(\w+)", expr):
        items = [str(x) for x in value(mod, f"${{var.{m.group(1)}}}")]
    elif m := re.search(r"\[([^\]]+)\]", expr):  # python-hcl2 drops the quotes inside ${...}
        items = [item.strip().strip('"') for item in m.group(1).split(",")]
    else:
        items = []
    assert items, expr
    out = []
    for item in items:
        inst = {}
        for k, v in body.items():
            if v == "${each.value}":
                v = item
            elif v == "${tonumber(each.value)}":
                v = int(item)
            inst[k] = v
        out.append(inst)
    return out


@cache
def sg_rules() -> frozenset[Rule]:
    rules: set[Rule] = set()
    for direction in ("ingress", "egress"):
        rule_type = f"aws_vpc_security_group_{direction}_rule"
        for body in resources("security_groups", rule_type).values():
            for inst in expand("security_groups", body):
                group = sg_name(inst["security_group_id"])
                if "referenced_security_group_id" in inst:
                    peer_group = sg_name(inst["referenced_security_group_id"])
                    peer = "self" if peer_group == group else f"sg:{peer_group}"
                else:
                    cidr = inst.get("cidr_ipv4") or inst.get("cidr_ipv6")
                    peer = f"cidr:{value('security_groups', cidr)}"
                proto = str(inst["ip_protocol"])
                lo = value("security_groups", inst.get("from_port"))
                hi = value("security_groups", inst.get("to_port"))
                rules.add((group, direction, proto, lo, hi, peer))
    return frozenset(rules)


def rules_of(group: str, direction: str) -> set[tuple[str, int | None, int | None, str]]:
    return {(p, lo, hi, peer)
            for g, d, p, lo, hi, peer in sg_rules() if (g, d) == (group, direction)}


SERVE_PORT = 8000


def test_every_tf_file_parses() -> None:
    assert len(ALL_TF) > 20
    for path in ALL_TF:
        assert isinstance(parse(path), dict), path


def test_the_serve_port_is_ray_serves() -> None:
    assert value("root", "${var.serve_port}") == SERVE_PORT


def test_the_security_groups_are_the_seeds() -> None:
    groups = resources("security_groups", "aws_security_group")
    assert set(groups) == {"alb", "nodes", "control_plane", "aurora", "redis"}
    # Every rule is a rule resource: no inline rule can hide in a group.
    for name, body in groups.items():
        assert "ingress" not in body and "egress" not in body, name
    assert not all_resources("aws_security_group_rule")


def test_the_alb_takes_https_from_anywhere_and_talks_only_to_serve() -> None:
    assert rules_of("alb", "ingress") == {("tcp", 443, 443, "cidr:0.0.0.0/0")}
    assert rules_of("alb", "egress") == {("tcp", SERVE_PORT, SERVE_PORT, "sg:nodes")}


def test_pods_are_reachable_only_from_the_alb_on_the_serve_port() -> None:
    ingress = rules_of("nodes", "ingress")
    assert not [r for r in ingress if r[3].startswith("cidr:")], "no address range reaches the pods"
    # Besides each other (Ray) and the EKS control plane (kubelet, admission webhooks), only
    # the ALB, on the Serve port.
    assert {r for r in ingress if r[3] not in {"self", "sg:control_plane"}} == {
        ("tcp", SERVE_PORT, SERVE_PORT, "sg:alb")
    }
    control_plane = {(p, lo) for p, lo, hi, peer in ingress if peer == "sg:control_plane"}
    assert control_plane == {("tcp", 443), ("tcp", 9443), ("tcp", 10250)}
    assert ("-1", None, None, "self") in ingress


def test_pods_egress_is_the_seeds() -> None:
    egress = rules_of("nodes", "egress")
    assert ("tcp", 5432, 5432, "sg:aurora") in egress
    assert ("tcp", 6379, 6379, "sg:redis") in egress
    # To the internet: HTTPS only (EKS API, ECR, AWS APIs, the payment gateway).
    assert {r for r in egress if r[3] == "cidr:0.0.0.0/0"} == {("tcp", 443, 443, "cidr:0.0.0.0/0")}
    dns = {r for r in egress if r[1] == 53}
    assert dns == {("udp", 53, 53, "cidr:${module.network.vpc_cidr}"),
                   ("tcp", 53, 53, "cidr:${module.network.vpc_cidr}")}


def test_data_stores_take_only_their_port_from_the_pods_and_have_no_egress() -> None:
    assert rules_of("aurora", "ingress") == {("tcp", 5432, 5432, "sg:nodes")}
    assert rules_of("redis", "ingress") == {("tcp", 6379, 6379, "sg:nodes")}
    assert rules_of("aurora", "egress") == set()
    assert rules_of("redis", "egress") == set()


def test_nothing_but_the_alb_on_443_is_open_to_the_internet() -> None:
    open_ingress = []
    for name, body in all_resources("aws_vpc_security_group_ingress_rule").items():
        if {body.get("cidr_ipv4"), body.get("cidr_ipv6")} & ANYWHERE:
            open_ingress.append((name, body["from_port"], body["to_port"]))
    for name, body in all_resources("aws_security_group").items():
        for rule in body.get("ingress", []):
            if set(rule.get("cidr_blocks", [])) & ANYWHERE:
                open_ingress.append((name, rule["from_port"], rule["to_port"]))
    for name, body in all_resources("aws_network_acl_rule").items():
        if body.get("egress") is False and body.get("cidr_block") in ANYWHERE:
            open_ingress.append((name, body.get("from_port"), body.get("to_port")))
    assert open_ingress == [("security_groups.alb_https", 443, 443)]


def test_every_group_is_attached_where_the_seed_puts_it() -> None:
    assert call("edge")["alb_security_group_id"] == "${module.security_groups.alb_id}"
    assert call("eks")["node_security_group_id"] == "${module.security_groups.nodes_id}"
    assert (call("eks")["control_plane_security_group_id"]
            == "${module.security_groups.control_plane_id}")
    assert call("aurora")["security_group_id"] == "${module.security_groups.aurora_id}"
    assert call("redis")["security_group_id"] == "${module.security_groups.redis_id}"

    (alb,) = resources("edge", "aws_lb").values()
    assert alb["security_groups"] == ["${var.alb_security_group_id}"]
    (cluster,) = resources("aurora", "aws_rds_cluster").values()
    assert cluster["vpc_security_group_ids"] == ["${var.security_group_id}"]
    for name, group in resources("redis", "aws_elasticache_replication_group").items():
        assert group["security_group_ids"] == ["${var.security_group_id}"], name
    # Nodes carry the nodes group only (not the EKS-created cluster group, which allows all).
    (template,) = resources("eks", "aws_launch_template").values()
    assert template["vpc_security_group_ids"] == ["${var.node_security_group_id}"]
    (eks,) = resources("eks", "aws_eks_cluster").values()
    assert (one(eks, "vpc_config")["security_group_ids"]
            == ["${var.control_plane_security_group_id}"])


# --- Network -------------------------------------------------------------------------------


def test_the_vpc_has_three_tiers_over_several_zones() -> None:
    assert value("root", "${var.vpc_cidr}") == "10.0.0.0/16"
    zones = value("root", "${var.availability_zones}")
    assert len(zones) == 3 and len(set(zones)) == 3
    subnets = resources("network", "aws_subnet")
    assert set(subnets) == {"public", "private", "database"}
    for body in subnets.values():
        assert body["count"] == "${local.az_count}"
    assert subnets["public"]["map_public_ip_on_launch"] is False
    assert value("root", "${var.single_nat_gateway}") is False  # one NAT gateway per zone
    assert "this" in resources("network", "aws_nat_gateway")


def test_the_database_tier_has_no_route_out() -> None:
    tables = resources("network", "aws_route_table")
    assert "route" not in tables["database"]
    for name, route in resources("network", "aws_route").items():
        assert "database" not in route["route_table_id"], name
    for group in ("aws_db_subnet_group", "aws_elasticache_subnet_group"):
        (body,) = resources("network", group).values()
        assert body["subnet_ids"] == "${aws_subnet.database[*].id}"
    assert call("aurora")["db_subnet_group_name"] == "${module.network.db_subnet_group_name}"
    assert call("redis")["subnet_group_name"] == "${module.network.elasticache_subnet_group_name}"


def test_vpc_flow_logs_and_a_closed_default_group() -> None:
    (flow,) = resources("network", "aws_flow_log").values()
    assert flow["traffic_type"] == "ALL"
    (default,) = resources("network", "aws_default_security_group").values()
    assert "ingress" not in default and "egress" not in default


# --- Aurora --------------------------------------------------------------------------------


def test_aurora_is_encrypted_with_its_own_key_and_requires_tls() -> None:
    (cluster,) = resources("aurora", "aws_rds_cluster").values()
    assert cluster["storage_encrypted"] is True
    assert cluster["kms_key_id"] == "${var.kms_key_arn}"
    assert call("aurora")["kms_key_arn"] == '${module.kms.key_arns["aurora"]}'
    (params,) = resources("aurora", "aws_rds_cluster_parameter_group").values()
    assert {p["name"]: p["value"] for p in params["parameter"]}["rds.force_ssl"] == "1"
    assert (cluster["db_cluster_parameter_group_name"]
            == "${aws_rds_cluster_parameter_group.this.name}")


def test_aurora_keeps_backups_and_cannot_be_deleted_by_accident() -> None:
    (cluster,) = resources("aurora", "aws_rds_cluster").values()
    assert value("aurora", cluster["backup_retention_period"]) >= 7
    assert cluster["deletion_protection"] is True
    assert cluster["skip_final_snapshot"] is False
    assert cluster["copy_tags_to_snapshot"] is True


def test_aurora_is_one_writer_and_the_seeds_readers_none_public() -> None:
    (instances,) = resources("aurora", "aws_rds_cluster_instance").values()
    assert instances["count"] == "${1 + var.reader_count}"
    assert value("aurora", "${var.reader_count}") == 8  # seed: 1 writer + 8 readers
    assert instances["publicly_accessible"] is False
    assert instances["performance_insights_kms_key_id"] == "${var.kms_key_arn}"


# --- Redis ---------------------------------------------------------------------------------


def test_redis_is_a_six_shard_cluster_with_replicas() -> None:
    engine = resources("redis", "aws_elasticache_replication_group")["this"]
    assert value("redis", engine["num_node_groups"]) == 6
    assert value("redis", engine["replicas_per_node_group"]) >= 1
    assert engine["automatic_failover_enabled"] is True and engine["multi_az_enabled"] is True
    (params,) = resources("redis", "aws_elasticache_parameter_group").values()
    assert {p["name"]: p["value"] for p in params["parameter"]}["cluster-enabled"] == "yes"


def test_every_redis_requires_tls_auth_and_encrypts_at_rest_with_kms() -> None:
    groups = resources("redis", "aws_elasticache_replication_group")
    assert set(groups) == {"this", "gcs"}
    for name, group in groups.items():
        assert group["transit_encryption_enabled"] is True, name
        assert group["transit_encryption_mode"] == "required", name
        assert group["at_rest_encryption_enabled"] is True, name
        assert group["kms_key_id"] == "${var.kms_key_arn}", name
        assert REF.match(group["auth_token"]), name
    assert call("redis")["kms_key_arn"] == '${module.kms.key_arns["redis"]}'
    # The AUTH tokens are the ones generated and stored in Secrets Manager.
    assert call("redis")["auth_token"] == "${module.secrets.redis_auth_token}"
    assert call("redis")["gcs_auth_token"] == "${module.secrets.gcs_redis_auth_token}"


# --- Edge: ALB and WAF ----------------------------------------------------------------------


def test_the_alb_listens_on_https_only_with_tls13() -> None:
    listeners = resources("edge", "aws_lb_listener")
    assert list(listeners) == ["https"]
    https = listeners["https"]
    assert (https["port"], https["protocol"]) == (443, "HTTPS")
    assert value("edge", https["ssl_policy"]).startswith("ELBSecurityPolicy-TLS13-")
    (alb,) = resources("edge", "aws_lb").values()
    assert alb["drop_invalid_header_fields"] is True
    (target,) = resources("edge", "aws_lb_target_group").values()
    assert value("edge", target["port"]) == SERVE_PORT
    assert target["target_type"] == "ip"


def waf_rules() -> dict[str, dict[str, Any]]:
    (acl,) = resources("edge", "aws_wafv2_web_acl").values()
    return {r["name"]: r for r in acl["rule"]}


def test_waf_rate_limits_each_client_ip_to_100_a_minute() -> None:
    rule = waf_rules()["rate-limit-per-ip"]
    assert "block" in one(rule, "action")
    stmt = one(one(rule, "statement"), "rate_based_statement")
    assert stmt["aggregate_key_type"] == "IP"
    assert value("edge", stmt["limit"]) == 100
    assert value("edge", stmt["evaluation_window_sec"]) == 60


def test_waf_allows_only_korea_the_us_and_japan() -> None:
    rule = waf_rules()["geo-allow-list"]
    assert "block" in one(rule, "action")
    inner = one(one(one(rule, "statement"), "not_statement"), "statement")
    codes = value("edge", one(inner, "geo_match_statement")["country_codes"])
    assert sorted(codes) == ["JP", "KR", "US"]


def test_waf_runs_the_aws_managed_sqli_and_xss_rules_blocking() -> None:
    managed = {}
    for rule in waf_rules().values():
        stmt = one(rule, "statement")
        if "managed_rule_group_statement" in stmt:
            group = one(stmt, "managed_rule_group_statement")
            assert group["vendor_name"] == "AWS"
            # `none` keeps the group's own actions (block); `count` would only observe.
            assert "none" in one(rule, "override_action"), rule["name"]
            managed[group["name"]] = group
    assert {"AWSManagedRulesSQLiRuleSet", "AWSManagedRulesCommonRuleSet",
            "AWSManagedRulesKnownBadInputsRuleSet"} <= set(managed)
    # The common rule set's cross-site scripting rules are not overridden.
    overrides = managed["AWSManagedRulesCommonRuleSet"].get("rule_action_override", [])
    assert not [o for o in overrides if "CrossSiteScripting" in o["name"]]


def test_waf_rules_have_distinct_priorities_and_the_acl_guards_the_alb() -> None:
    priorities = [r["priority"] for r in waf_rules().values()]
    assert len(priorities) == len(set(priorities))
    assert waf_rules()["geo-allow-list"]["priority"] < waf_rules()["rate-limit-per-ip"]["priority"]
    (assoc,) = resources("edge", "aws_wafv2_web_acl_association").values()
    assert assoc["resource_arn"] == "${aws_lb.this.arn}"
    assert assoc["web_acl_arn"] == "${aws_wafv2_web_acl.this.arn}"
    assert resources("edge", "aws_wafv2_web_acl_logging_configuration")


def test_waf_variables_only_accept_what_waf_supports() -> None:
    variables = named("root", "variable")
    window = variables["waf_rate_limit_window_sec"]["validation"][0]["condition"]
    assert "[60, 120, 300, 600]" in window


# --- Secrets and keys ----------------------------------------------------------------------


def test_every_secret_is_in_secrets_manager_under_a_customer_key() -> None:
    secrets = resources("secrets", "aws_secretsmanager_secret")
    assert set(secrets) == {"database", "redis", "gcs_redis", "jwt_signing_key", "payment_gateway"}
    for name, secret in secrets.items():
        assert secret["kms_key_id"] == "${var.kms_key_arn}", name
    assert call("secrets")["kms_key_arn"] == '${module.kms.key_arns["secrets"]}'
    # The JWT signing key and the payment keys are set out of band: Terraform writes no value.
    versions = resources("secrets", "aws_secretsmanager_secret_version")
    assert set(versions) == {"database", "redis", "gcs_redis"}


def test_generated_secrets_are_long_random_passwords() -> None:
    passwords = resources("secrets", "random_password")
    assert set(passwords) == {"database", "redis", "gcs_redis"}
    for name, body in passwords.items():
        assert body["length"] >= 32, name
    (cluster,) = resources("aurora", "aws_rds_cluster").values()
    assert cluster["master_password"] == "${var.master_password}"
    assert call("aurora")["master_password"] == "${module.secrets.database_password}"


def test_connection_urls_use_tls() -> None:
    (secrets_main,) = [p for p in ALL_TF if p.parent.name == "secrets" and p.name == "main.tf"]
    text = secrets_main.read_text()
    assert "?sslmode=require" in text
    assert 'redis_url           = "rediss://' in text


SECRET_KEY = re.compile(r"(password|passwd|secret|secret_string|secret_key|token|private_key|"
                        r"api_key)$", re.I)


def literal_secrets(node: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(node, dict):
        for k, v in node.items():
            sub = f"{path}.{k}"
            if SECRET_KEY.search(k) and isinstance(v, str) and v and "${" not in v:
                found.append(sub)
            found += literal_secrets(v, sub)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += literal_secrets(v, f"{path}[{i}]")
    return found


def test_no_secret_value_is_written_in_the_configuration() -> None:
    allowed = {".data.admin-user"}  # Grafana's admin *user name*
    for path in ALL_TF:
        found = [f for f in literal_secrets(parse(path)) if not any(f.endswith(a) for a in allowed)]
        # Descriptions and names mention secrets; values never appear.
        found = [f for f in found if not f.endswith((".description", ".name", ".sid",
                                                     ".secretKey", ".key", ".property"))]
        assert not found, (path, found)
    with (TF / "example.tfvars").open() as f:
        tfvars = load_hcl(f)
    assert not literal_secrets(tfvars)


def test_every_kms_key_rotates() -> None:
    (key,) = resources("kms", "aws_kms_key").values()
    assert key["enable_key_rotation"] is True
    purposes = named("kms", "locals")
    assert {"eks", "aurora", "redis", "secrets", "logs", "ecr"} <= set(purposes["purposes"])


def test_logs_and_volumes_are_encrypted() -> None:
    for name, group in all_resources("aws_cloudwatch_log_group").items():
        assert group["kms_key_id"] == "${var.logs_kms_key_arn}", name
        assert value(name.split(".")[0], group["retention_in_days"]) >= 365, name
    (template,) = resources("eks", "aws_launch_template").values()
    ebs = one(one(template, "block_device_mappings"), "ebs")
    assert ebs["encrypted"] is True
    assert one(template, "metadata_options")["http_tokens"] == "required"  # IMDSv2 only


# --- EKS -----------------------------------------------------------------------------------


def test_eks_encrypts_secrets_and_keeps_its_api_private_by_default() -> None:
    (eks,) = resources("eks", "aws_eks_cluster").values()
    enc = one(eks, "encryption_config")
    assert enc["resources"] == ["secrets"]
    assert one(enc, "provider")["key_arn"] == "${var.eks_kms_key_arn}"
    assert value("root", "${var.eks_endpoint_public_access}") is False
    cidrs = named("root", "variable")["eks_endpoint_public_access_cidrs"]
    assert "0.0.0.0/0" in cidrs["validation"][0]["condition"]
    assert set(eks["enabled_cluster_log_types"]) >= {"api", "audit", "authenticator"}


def node_groups() -> dict[str, dict[str, Any]]:
    sizes = {}
    for group, prefix in (("ray-head", "head"), ("ray-workers", "worker")):
        sizes[group] = {
            "types": value("eks", f"${{var.{prefix}_instance_types}}"),
            **{k: value("eks", f"${{var.{prefix}_{k}_size}}") for k in ("min", "desired", "max")},
        }
    return sizes


def test_a_node_group_for_the_ray_head_and_one_for_the_workers() -> None:
    (groups,) = resources("eks", "aws_eks_node_group").values()
    assert groups["for_each"] == "${local.node_groups}"
    sizes = node_groups()
    assert sizes["ray-head"] == {"types": ["m6i.2xlarge"], "min": 1, "desired": 1, "max": 1}
    assert sizes["ray-workers"] == {"types": ["m6i.8xlarge"], "min": 3, "desired": 3, "max": 18}


# --- Provider pins, skips, formatting -------------------------------------------------------


def test_providers_are_pinned_exactly() -> None:
    (terraform,) = blocks("root")["terraform"]
    (providers,) = terraform["required_providers"]
    assert set(providers) == {"aws", "kubernetes", "helm", "random", "tls"}
    for name, spec in providers.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", spec["version"]), name
    major, minor, _ = (int(x) for x in providers["aws"]["version"].split("."))
    assert (major, minor) >= (5, 40)  # evaluation_window_sec of WAF rate-based rules


SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_every_checkov_skip_says_why() -> None:
    skips = []
    for path in ALL_TF:
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                m = SKIP.search(line)
                assert m, (path, line)
                check, reason = m.groups()
                assert re.fullmatch(r"CKV2?_AWS_\d+", check), (path, line)
                assert reason and len(reason.strip()) >= 40, (path, check, "needs a reason")
                skips.append(check)
    assert skips, "the README lists the skips; keep it in step"
    readme = (TF / "README.md").read_text()
    for check in set(skips):
        assert check in readme, f"{check} is skipped but not listed in terraform/README.md"


def tf_env() -> dict[str, str]:
    env = dict(os.environ, TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    # A CLI configuration that points at a missing file only makes terraform warn.
    if not Path(env.get("TF_CLI_CONFIG_FILE", "/nonexistent")).exists():
        env.pop("TF_CLI_CONFIG_FILE", None)
    return env


def test_terraform_fmt_is_clean() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("the terraform binary is not installed, so `terraform fmt -check` cannot run")
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-no-color", str(TF)],
        capture_output=True, text=True, env=tf_env(), timeout=120, check=False,
    )
    assert result.returncode == 0, f"not formatted:\n{result.stdout}{result.stderr}"


def checkov_binary() -> str | None:
    explicit = os.environ.get("TIKETI_CHECKOV")
    if explicit:
        return explicit
    candidate = Path(sys.executable).parent / "checkov"
    return str(candidate) if candidate.exists() else None


def test_checkov_passes() -> None:
    checkov = checkov_binary()
    if checkov is None:
        pytest.skip(
            "TIKETI_CHECKOV is not set: checkov cannot share .venv (every checkov 3.x pins "
            "packaging<24, ray 2.60 needs packaging>=24.2), so `make test` installs it in "
            ".venv-checkov/ from requirements-checkov.lock and sets TIKETI_CHECKOV; to run this "
            "test directly: make .venv-checkov/.installed && "
            "TIKETI_CHECKOV=.venv-checkov/bin/checkov pytest ..."
        )
    assert Path(checkov).is_file(), f"TIKETI_CHECKOV={checkov} is not a file"
    result = subprocess.run(
        [checkov, "-d", str(TF), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert result.stdout.strip(), f"checkov wrote no report:\n{result.stderr}"
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert summary["parsing_errors"] == 0
    assert not failed, failed
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), check["check_id"]


# --- terraform validate with a local provider mirror ----------------------------------------


def provider_mirror() -> Path | None:
    candidate = os.environ.get("TIKETI_TF_PROVIDER_MIRROR")
    if candidate and (Path(candidate) / "registry.terraform.io").is_dir():
        return Path(candidate)
    return None


def module_providers(mod: str) -> set[str]:
    (terraform,) = blocks(mod)["terraform"]
    (providers,) = terraform["required_providers"]
    return set(providers)


@pytest.mark.parametrize("mod", sorted(p.name for p in MODULES.iterdir() if p.is_dir()))
def test_module_validates(mod: str, tmp_path: Path) -> None:
    """`terraform validate` needs the providers' schemas; `terraform init` cannot download
    them without the registry, so this runs only with a filesystem mirror that holds every
    provider of the module at the root's pinned version."""
    terraform = shutil.which("terraform")
    mirror = provider_mirror()
    if terraform is None or mirror is None:
        pytest.skip("needs terraform and a provider mirror (TIKETI_TF_PROVIDER_MIRROR): "
                    "`terraform init` cannot download providers here, the registry "
                    "(registry.terraform.io) is out of reach")
    (root_tf,) = blocks("root")["terraform"]
    (pins,) = root_tf["required_providers"]
    hashicorp = mirror / "registry.terraform.io" / "hashicorp"
    missing = [p for p in sorted(module_providers(mod))
               if not (hashicorp / p / pins[p]["version"]).is_dir()]
    if missing:
        pytest.skip(f"provider(s) {', '.join(missing)} not in the mirror {mirror}")
    work = tmp_path / mod
    shutil.copytree(MODULES / mod, work)
    (tmp_path / "cli.tfrc").write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n'
    )
    env = dict(tf_env(), TF_CLI_CONFIG_FILE=str(tmp_path / "cli.tfrc"))
    for args in (["init", "-backend=false", "-input=false", "-no-color"],
                 ["validate", "-no-color"]):
        result = subprocess.run([terraform, *args], cwd=work, env=env, capture_output=True,
                                text=True, timeout=300, check=False)
        assert result.returncode == 0, f"terraform {args[0]}:\n{result.stdout}{result.stderr}"


# --- The contract with the rendered RayService manifest ------------------------------------


@cache
def rayservice_documents() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(RAYSERVICE.read_text()) if d]


def secret_refs(node: Any) -> list[dict[str, str]]:
    if isinstance(node, dict):
        refs = [node["secretKeyRef"]] if "secretKeyRef" in node else []
        return refs + [r for v in node.values() for r in secret_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in secret_refs(v)]
    return []


def test_the_manifest_path_is_the_repositorys_rendering() -> None:
    (kubernetes,) = [m for m in blocks("root")["locals"] if "rayservice_manifest_path" in m]
    assert '"${path.root}/../kuberay/rayservice.yaml"' in kubernetes["rayservice_manifest_path"]
    kinds = {d["kind"] for d in rayservice_documents()}
    assert "RayService" in kinds


def test_the_external_secret_fills_every_key_the_pods_read() -> None:
    refs = secret_refs(rayservice_documents())
    assert refs
    external = resources("kubernetes", "kubernetes_manifest")["engine_env"]["manifest"]
    synced = {item["secretKey"] for item in external["spec"]["data"]}
    name = value("root", "${var.env_secret_name}")
    assert {r["name"] for r in refs} == {name}
    assert {r["key"] for r in refs} <= synced
    # And every synced key comes from a secret this configuration creates.
    for item in external["spec"]["data"]:
        assert item["remoteRef"]["key"].startswith("${var.secret_names."), item


def test_the_manifest_serves_on_the_port_the_alb_targets() -> None:
    (service,) = [d for d in rayservice_documents() if d["kind"] == "RayService"]
    cluster = service["spec"]["rayClusterConfig"]
    for group in cluster["workerGroupSpecs"]:
        ports = {p["name"]: p["containerPort"]
                 for c in group["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert ports["serve"] == SERVE_PORT
    assert service["spec"].get("excludeHeadPodFromServeSvc") is True


VCPUS = {"m6i.2xlarge": 8, "m6i.4xlarge": 16, "m6i.8xlarge": 32}
NODE_OVERHEAD_VCPU = 1.0  # kubelet reservation, VPC CNI, kube-proxy, Ray's per-node daemons


def cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def test_the_worker_nodes_hold_the_rayservices_largest_worker_count() -> None:
    (service,) = [d for d in rayservice_documents() if d["kind"] == "RayService"]
    groups = node_groups()
    usable = VCPUS[groups["ray-workers"]["types"][0]] - NODE_OVERHEAD_VCPU
    for group in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]:
        (container,) = group["template"]["spec"]["containers"]
        per_pod = cpu(container["resources"]["requests"]["cpu"])
        pods_per_node = math.floor(usable / per_pod)
        assert pods_per_node * groups["ray-workers"]["max"] >= group["maxReplicas"], (
            f"{group['maxReplicas']} worker pods of {per_pod} vCPU need more than "
            f"{groups['ray-workers']['max']} nodes of {pods_per_node}"
        )
        assert math.ceil(group["minReplicas"] / pods_per_node) <= groups["ray-workers"]["min"]


def test_the_head_node_holds_the_head_pod() -> None:
    (service,) = [d for d in rayservice_documents() if d["kind"] == "RayService"]
    cluster = service["spec"]["rayClusterConfig"]
    head = cluster["headGroupSpec"]["template"]["spec"]
    need = sum(cpu(c["resources"]["requests"]["cpu"]) for c in head["containers"])
    need += cpu(cluster.get("autoscalerOptions", {}).get("resources", {})
                .get("requests", {}).get("cpu", 0))
    usable = VCPUS[node_groups()["ray-head"]["types"][0]] - NODE_OVERHEAD_VCPU
    assert need <= usable
