# What runs inside the cluster, in two phases (see README.md, "Deploying"):
#
# Phase 1 (always): the engine's namespace, its secret reader, and the Helm releases:
#   kuberay-operator              reconciles RayService / RayCluster objects
#   aws-load-balancer-controller  registers the Ray Serve pods in the ALB's target group
#                                 (TargetGroupBinding only: it creates no load balancers)
#   external-secrets              copies the engine's Secrets Manager secrets into the
#                                 Kubernetes secret `tiketi-secrets` that the Ray pods read
#   cluster-autoscaler            adds and removes worker nodes when Ray's autoscaler adds or
#                                 removes worker pods
#   prometheus                    kube-prometheus-stack (optional): scrapes the PodMonitor of
#                                 the RayService manifest, loads its Grafana dashboard
# Each controller that calls AWS gets its own IAM role through IRSA, limited to what it does.
#
# Phase 2 (var.deploy_workloads = true, once phase 1 has installed the CRDs, because
# kubernetes_manifest reads a CRD's schema while planning): the SecretStore and
# ExternalSecret, the `tiketi-gcs-redis` Service, every document of the repository's
# rendered RayService manifest (kuberay/rayservice.yaml), and the TargetGroupBinding.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name
  account   = data.aws_caller_identity.current.account_id

  # Service accounts that get an IAM role, and where they live.
  irsa = {
    lb-controller      = { namespace = "kube-system", service_account = "aws-load-balancer-controller" }
    cluster-autoscaler = { namespace = "kube-system", service_account = "cluster-autoscaler" }
    secrets-reader     = { namespace = var.namespace, service_account = "tiketi-secrets-reader" }
  }

  # The rendered manifest holds several YAML documents; empty and comment-only ones are
  # skipped, and so are monitoring objects when kube-prometheus-stack (their CRDs) is not
  # installed. Read only in phase 2, so phase 1 works before the manifest exists.
  manifest_text = var.deploy_workloads ? file(var.rayservice_manifest_path) : ""
  manifest_documents = [
    for doc in split("\n---", "\n${local.manifest_text}") : yamldecode("${doc}\n")
    if length(regexall("(?m)^[^#\\s-]", doc)) > 0
  ]
  monitoring_kinds = ["PodMonitor", "ServiceMonitor", "PrometheusRule"]
  manifests = {
    for doc in local.manifest_documents :
    "${doc.kind}/${doc.metadata.name}" => merge(doc, {
      metadata = merge(doc.metadata, { namespace = lookup(doc.metadata, "namespace", var.namespace) })
    })
    if var.install_monitoring || !contains(local.monitoring_kinds, doc.kind)
  }
  rayservice_names = [for doc in local.manifest_documents : doc.metadata.name if doc.kind == "RayService"]
  # KubeRay names the Service in front of a RayService's Serve proxies <name>-serve-svc.
  serve_service_name = length(local.rayservice_names) > 0 ? "${local.rayservice_names[0]}-serve-svc" : ""
}

resource "kubernetes_namespace_v1" "engine" {
  metadata {
    name = var.namespace
    labels = {
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
    }
  }
}

# --- IAM roles for service accounts ------------------------------------------------------

data "aws_iam_policy_document" "irsa_trust" {
  for_each = local.irsa

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:sub"
      values   = ["system:serviceaccount:${each.value.namespace}:${each.value.service_account}"]
    }
    condition {
      test     = "StringEquals"
      variable = "${var.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "irsa" {
  for_each = local.irsa

  name               = "${var.cluster_name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.irsa_trust[each.key].json
}

# The load balancer controller, used only for the TargetGroupBinding: look things up, and
# register / deregister targets in the one target group.
data "aws_iam_policy_document" "lb_controller" {
  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeAvailabilityZones",
      "ec2:DescribeInstances",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeTargetHealth",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "RegisterServePods"
    actions   = ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"]
    resources = [var.target_group_arn]
  }
}

# The cluster autoscaler: read the node groups, and resize only this cluster's ones (their
# auto scaling groups carry the k8s.io/cluster-autoscaler/<cluster> tag EKS puts on them).
data "aws_iam_policy_document" "cluster_autoscaler" {
  statement {
    sid = "Describe"
    actions = [
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
      "autoscaling:DescribeLaunchConfigurations",
      "autoscaling:DescribeScalingActivities",
      "autoscaling:DescribeTags",
      "ec2:DescribeImages",
      "ec2:DescribeInstanceTypes",
      "ec2:DescribeLaunchTemplateVersions",
      "ec2:GetInstanceTypesFromInstanceRequirements",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DescribeNodeGroups"
    actions   = ["eks:DescribeNodegroup"]
    resources = ["arn:${local.partition}:eks:${local.region}:${local.account}:nodegroup/${var.cluster_name}/*"]
  }

  statement {
    sid = "ResizeOwnGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/eks-*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/k8s.io/cluster-autoscaler/${var.cluster_name}"
      values   = ["owned"]
    }
  }
}

# External secrets: read the engine's secrets and nothing else.
data "aws_iam_policy_document" "secrets_reader" {
  statement {
    sid       = "ReadEngineSecrets"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = values(var.secret_arns)
  }

  statement {
    sid       = "DecryptThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [var.secrets_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

locals {
  irsa_policies = {
    lb-controller      = data.aws_iam_policy_document.lb_controller.json
    cluster-autoscaler = data.aws_iam_policy_document.cluster_autoscaler.json
    secrets-reader     = data.aws_iam_policy_document.secrets_reader.json
  }
}

resource "aws_iam_role_policy" "irsa" {
  for_each = local.irsa

  name   = each.key
  role   = aws_iam_role.irsa[each.key].id
  policy = local.irsa_policies[each.key]
}

resource "kubernetes_service_account_v1" "secrets_reader" {
  metadata {
    name      = local.irsa.secrets-reader.service_account
    namespace = kubernetes_namespace_v1.engine.metadata[0].name
    annotations = {
      "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["secrets-reader"].arn
    }
  }
  automount_service_account_token = false
}

# --- Helm releases -----------------------------------------------------------------------

resource "helm_release" "kuberay_operator" {
  name             = "kuberay-operator"
  repository       = "https://ray-project.github.io/kuberay-helm/"
  chart            = "kuberay-operator"
  version          = var.kuberay_chart_version
  namespace        = "kuberay-system"
  create_namespace = true
  atomic           = true
  timeout          = 600
}

resource "helm_release" "lb_controller" {
  name       = "aws-load-balancer-controller"
  repository = "https://aws.github.io/eks-charts"
  chart      = "aws-load-balancer-controller"
  version    = var.lb_controller_chart_version
  namespace  = "kube-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    clusterName  = var.cluster_name
    region       = local.region
    vpcId        = var.vpc_id
    replicaCount = 2
    # Only TargetGroupBindings: do not turn LoadBalancer Services into NLBs.
    enableServiceMutatorWebhook = false
    serviceAccount = {
      name        = local.irsa.lb-controller.service_account
      annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["lb-controller"].arn }
    }
  })]

  depends_on = [aws_iam_role_policy.irsa]
}

resource "helm_release" "external_secrets" {
  name             = "external-secrets"
  repository       = "https://charts.external-secrets.io"
  chart            = "external-secrets"
  version          = var.external_secrets_chart_version
  namespace        = "external-secrets"
  create_namespace = true
  atomic           = true
  timeout          = 600

  values = [yamlencode({ installCRDs = true })]
}

# kube-prometheus-stack as release `prometheus`: its Prometheus selects PodMonitors labelled
# release=prometheus (as the RayService manifest's is), and Grafana's sidecar loads dashboard
# ConfigMaps from every namespace. Grafana's admin password is generated and kept in a
# Kubernetes secret; nothing is exposed outside the cluster (kubectl port-forward).
resource "random_password" "grafana_admin" {
  count = var.install_monitoring ? 1 : 0

  length  = 32
  special = false
}

resource "kubernetes_namespace_v1" "monitoring" {
  count = var.install_monitoring ? 1 : 0

  metadata {
    name = "monitoring"
  }
}

resource "kubernetes_secret_v1" "grafana_admin" {
  count = var.install_monitoring ? 1 : 0

  metadata {
    name      = "grafana-admin"
    namespace = kubernetes_namespace_v1.monitoring[0].metadata[0].name
  }
  data = {
    admin-user     = "admin"
    admin-password = random_password.grafana_admin[0].result
  }
}

resource "helm_release" "monitoring" {
  count = var.install_monitoring ? 1 : 0

  name       = "prometheus"
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.kube_prometheus_stack_version
  namespace  = kubernetes_namespace_v1.monitoring[0].metadata[0].name
  atomic     = true
  timeout    = 900

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        retention = "15d"
      }
    }
    grafana = {
      admin = {
        existingSecret = kubernetes_secret_v1.grafana_admin[0].metadata[0].name
        userKey        = "admin-user"
        passwordKey    = "admin-password"
      }
      sidecar = {
        dashboards = {
          enabled         = true
          searchNamespace = "ALL"
        }
      }
    }
  })]
}

resource "helm_release" "cluster_autoscaler" {
  name       = "cluster-autoscaler"
  repository = "https://kubernetes.github.io/autoscaler"
  chart      = "cluster-autoscaler"
  version    = var.cluster_autoscaler_chart_version
  namespace  = "kube-system"
  atomic     = true
  timeout    = 600

  values = [yamlencode({
    cloudProvider = "aws"
    awsRegion     = local.region
    autoDiscovery = { clusterName = var.cluster_name }
    image         = { tag = var.cluster_autoscaler_image_tag }
    rbac = {
      serviceAccount = {
        name        = local.irsa.cluster-autoscaler.service_account
        annotations = { "eks.amazonaws.com/role-arn" = aws_iam_role.irsa["cluster-autoscaler"].arn }
      }
    }
    extraArgs = {
      expander                      = "least-waste"
      balance-similar-node-groups   = true
      skip-nodes-with-local-storage = false
      # Give Ray's autoscaler time to move work off an idle worker before the node goes.
      scale-down-unneeded-time = "5m"
    }
  })]

  depends_on = [aws_iam_role_policy.irsa]
}

# --- Phase 2: manifests that need the CRDs above ------------------------------------------

resource "kubernetes_manifest" "secret_store" {
  count = var.deploy_workloads ? 1 : 0

  manifest = {
    apiVersion = "external-secrets.io/v1"
    kind       = "SecretStore"
    metadata = {
      name      = "aws-secrets-manager"
      namespace = kubernetes_namespace_v1.engine.metadata[0].name
    }
    spec = {
      provider = {
        aws = {
          service = "SecretsManager"
          region  = local.region
          auth = {
            jwt = { serviceAccountRef = { name = kubernetes_service_account_v1.secrets_reader.metadata[0].name } }
          }
        }
      }
    }
  }

  depends_on = [helm_release.external_secrets]
}

# The Kubernetes secret the Ray pods read (kuberay/rayservice.yaml: `tiketi-secrets`), kept in
# step with Secrets Manager every hour (or at once: kubectl annotate externalsecret
# tiketi-secrets force-sync=$(date +%s) --overwrite).
resource "kubernetes_manifest" "engine_env" {
  count = var.deploy_workloads ? 1 : 0

  manifest = {
    apiVersion = "external-secrets.io/v1"
    kind       = "ExternalSecret"
    metadata = {
      name      = var.env_secret_name
      namespace = kubernetes_namespace_v1.engine.metadata[0].name
    }
    spec = {
      refreshInterval = "1h"
      secretStoreRef  = { kind = "SecretStore", name = "aws-secrets-manager" }
      target          = { name = var.env_secret_name, creationPolicy = "Owner" }
      data = [
        { secretKey = "DATABASE_URL", remoteRef = { key = var.secret_names.database, property = "DATABASE_URL" } },
        { secretKey = "REDIS_URL", remoteRef = { key = var.secret_names.redis, property = "REDIS_URL" } },
        { secretKey = "TIKETI_JWT_PRIVATE_KEY", remoteRef = { key = var.secret_names.jwt_signing_key } },
        { secretKey = "TIKETI_PAYMENT_SECRET_KEY", remoteRef = { key = var.secret_names.payment_gateway, property = "secretKey" } },
        { secretKey = "TIKETI_PAYMENT_CLIENT_KEY", remoteRef = { key = var.secret_names.payment_gateway, property = "clientKey" } },
        { secretKey = "GCS_REDIS_PASSWORD", remoteRef = { key = var.secret_names.gcs_redis, property = "GCS_REDIS_PASSWORD" } },
      ]
    }
  }

  depends_on = [kubernetes_manifest.secret_store]
}

# The name the RayService's gcsFaultToleranceOptions.redisAddress uses, resolving to the GCS
# Redis' primary endpoint (see README.md: that Redis requires TLS).
resource "kubernetes_service_v1" "gcs_redis" {
  count = var.deploy_workloads ? 1 : 0

  metadata {
    name      = "tiketi-gcs-redis"
    namespace = kubernetes_namespace_v1.engine.metadata[0].name
  }
  spec {
    type          = "ExternalName"
    external_name = var.gcs_redis_host
  }
}

resource "kubernetes_manifest" "rayservice" {
  for_each = local.manifests

  manifest = each.value

  depends_on = [
    helm_release.kuberay_operator,
    helm_release.monitoring,
    kubernetes_manifest.engine_env,
    kubernetes_service_v1.gcs_redis,
  ]
}

resource "kubernetes_manifest" "serve_target_group_binding" {
  count = var.deploy_workloads ? 1 : 0

  manifest = {
    apiVersion = "elbv2.k8s.aws/v1beta1"
    kind       = "TargetGroupBinding"
    metadata = {
      name      = "serve"
      namespace = kubernetes_namespace_v1.engine.metadata[0].name
    }
    spec = {
      serviceRef     = { name = local.serve_service_name, port = var.serve_port }
      targetGroupARN = var.target_group_arn
      targetType     = "ip"
    }
  }

  lifecycle {
    precondition {
      condition     = local.serve_service_name != ""
      error_message = "No RayService document in ${var.rayservice_manifest_path}."
    }
  }

  depends_on = [helm_release.lb_controller, kubernetes_manifest.rayservice]
}
