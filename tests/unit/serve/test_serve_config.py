"""The Serve config written for `serve deploy` and KubeRay: valid for Ray Serve, one
application per service route prefix, built by the importable app builder."""

from __future__ import annotations

import importlib

import yaml
from ray.serve.schema import ServeDeploySchema

from api.catalog import SERVICES
from engine.serve.config import IMPORT_PATH, serve_config_yaml
from engine.settings import Settings


def test_the_config_is_a_valid_serve_deploy_schema() -> None:
    settings = Settings.from_env({"TIKETI_SERVE_REPLICAS": "queue=3,seatmap=2",
                                  "DATABASE_URL": "postgresql://db/tiketi"})
    text = serve_config_yaml(settings, {"DATABASE_URL": "postgresql://db/tiketi"})
    config = ServeDeploySchema.model_validate(yaml.safe_load(text))
    apps = {a.name: a for a in config.applications}
    assert set(apps) == {s.name for s in SERVICES}
    assert {a.route_prefix for a in config.applications} == {s.route_prefix for s in SERVICES}
    assert apps["queue"].deployments[0].num_replicas == 3
    assert apps["auth"].deployments[0].num_replicas == 1
    assert apps["seats"].deployments[0].logging_config.enable_access_log is False
    assert apps["queue"].args == {"service": "queue",
                                  "env": {"DATABASE_URL": "postgresql://db/tiketi"}}


def test_the_import_path_resolves_to_the_app_builder() -> None:
    module, _, name = IMPORT_PATH.partition(":")
    builder = getattr(importlib.import_module(module), name)
    assert callable(builder)


def test_with_autoscaling_the_queue_and_reservation_deployments_use_the_line_policies() -> None:
    settings = Settings.from_env({"TIKETI_AUTOSCALE": "1", "TIKETI_AUTOSCALE_MIN_REPLICAS": "3",
                                  "TIKETI_AUTOSCALE_MAX_REPLICAS": "100"})
    config = ServeDeploySchema.model_validate(yaml.safe_load(serve_config_yaml(settings, {})))
    apps = {a.name: a.deployments[0] for a in config.applications}
    for name, metric, per_replica in (("queue", "waiting_users", 10_000),
                                      ("seats", "active_users", 2_000)):
        autoscaling = apps[name].autoscaling_config
        assert autoscaling is not None
        assert (autoscaling["min_replicas"], autoscaling["max_replicas"]) == (3, 100)
        assert (autoscaling["upscale_delay_s"], autoscaling["downscale_delay_s"]) == (5.0, 60.0)
        policy = autoscaling["policy"]
        module, _, function = policy["policy_function"].partition(":")
        instance = getattr(importlib.import_module(module), function)(**policy["policy_kwargs"])
        assert (instance.metric, instance.users_per_replica) == (metric, per_replica)
    assert not isinstance(apps["auth"].autoscaling_config, dict) and apps["auth"].num_replicas == 1


def test_the_payment_replicas_concurrency_comes_from_its_setting() -> None:
    settings = Settings.from_env({"TIKETI_PAYMENTS_MAX_ONGOING": "48"})
    config = yaml.safe_load(serve_config_yaml(settings, settings.to_env()))
    ongoing = {a["name"]: a["deployments"][0]["max_ongoing_requests"]
               for a in config["applications"]}
    assert ongoing["payments"] == 48
    assert ongoing["auth"] == 1_000  # the others keep theirs
    assert Settings().payments.max_ongoing == 32
