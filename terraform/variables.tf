# --- Account and naming ------------------------------------------------------------------

variable "region" {
  description = "AWS region of the whole estate (Seoul by default: the buyers are in Korea)."
  type        = string
  default     = "ap-northeast-2"
}

variable "allowed_account_ids" {
  description = "Refuse to run against any other AWS account (null: any)."
  type        = list(string)
  default     = null
}

variable "name" {
  description = "Project name: prefix of every resource name."
  type        = string
  default     = "tiketi"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.name))
    error_message = "name: 2-16 lowercase letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, ...), part of every resource name."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2-10 lowercase letters and digits, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "Retention of every log group and of the ALB access logs (seed: one year)."
  type        = number
  default     = 365
}

# --- Network -----------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC (seed: 10.0.0.0/16)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && endswith(var.vpc_cidr, "/16")
    error_message = "vpc_cidr must be a /16 (the subnet layout carves /19s and /24s out of it)."
  }
}

variable "availability_zones" {
  description = "Availability zones of the subnets, by name (2 or 3, in var.region)."
  type        = list(string)
  default     = ["ap-northeast-2a", "ap-northeast-2b", "ap-northeast-2c"]

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones: 2 or 3 distinct zones (the /16 holds three /19 private subnets)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (cheaper, less available)."
  type        = bool
  default     = false
}

variable "serve_port" {
  description = "Port of Ray Serve's HTTP proxy on the pods (TIKETI_HTTP_PORT)."
  type        = number
  default     = 8000
}

variable "control_plane_to_node_ports" {
  description = "Ports the EKS control plane may open on nodes: 443 and 10250 (kubelet, and the external-secrets webhook), 9443 (load balancer controller webhook)."
  type        = list(number)
  default     = [443, 9443, 10250]
}

# --- EKS ---------------------------------------------------------------------------------

variable "kubernetes_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.33"
}

variable "eks_endpoint_public_access" {
  description = "Expose the Kubernetes API publicly (restricted to eks_endpoint_public_access_cidrs). Off by default: run Terraform from inside the VPC (CI runner, SSM session) or turn it on for your address only."
  type        = bool
  default     = false
}

variable "eks_endpoint_public_access_cidrs" {
  description = "Source CIDRs allowed to the public Kubernetes API endpoint."
  type        = list(string)
  default     = []

  validation {
    condition     = !contains(var.eks_endpoint_public_access_cidrs, "0.0.0.0/0")
    error_message = "The Kubernetes API must not be open to 0.0.0.0/0."
  }
}

# Node sizes come from the seed's resource table (section 8). Summed over the six services,
# the pods' requests are 5.7 vCPU / 6 GiB at the minimum replica counts and 107.4 vCPU /
# 109 GiB at the maximum ones; their limits at the maximum are 436 vCPU / 436 GiB. The engine
# runs all six as Ray Serve deployments in Ray worker pods of 4 vCPU / 8 GiB
# (kuberay/rayservice.yaml), so the seed's peak is 27 worker pods at requests and 109 at
# limits; the RayService lets Ray's autoscaler go from 4 to 120. An m6i.8xlarge (32 vCPU,
# 128 GiB) holds 7 of them beside the node's daemons, so 18 nodes carry the RayService's
# 120 (and the seed's peak at limits, 109, with room); three, one per zone, is the floor.
variable "worker_instance_types" {
  description = "Instance types of the Ray worker node group."
  type        = list(string)
  default     = ["m6i.8xlarge"]
}

variable "worker_node_count" {
  description = "Ray worker nodes: min, desired (at creation; then the autoscalers own it), max."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 3, desired = 3, max = 18 }

  validation {
    condition     = var.worker_node_count.min <= var.worker_node_count.desired && var.worker_node_count.desired <= var.worker_node_count.max
    error_message = "worker_node_count must satisfy min <= desired <= max."
  }
}

# The Ray head runs no Serve replicas or shards (num-cpus 0 in the RayService): it holds the
# GCS, the Serve controller and the dashboard, whose memory grows with the cluster. Its pod
# asks 3 vCPU plus 0.5 for the autoscaler sidecar: an m6i.2xlarge (8 vCPU, 32 GiB) holds it,
# and during an upgrade the new head beside the old one.
variable "head_instance_types" {
  description = "Instance types of the Ray head node group."
  type        = list(string)
  default     = ["m6i.2xlarge"]
}

variable "head_node_count" {
  description = "Ray head nodes: min, desired, max (one Ray head per cluster)."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 1, desired = 1, max = 1 }

  validation {
    condition     = var.head_node_count.min <= var.head_node_count.desired && var.head_node_count.desired <= var.head_node_count.max
    error_message = "head_node_count must satisfy min <= desired <= max."
  }
}

variable "node_disk_size_gb" {
  description = "Root volume size of every node."
  type        = number
  default     = 100
}

# --- Aurora PostgreSQL -------------------------------------------------------------------

variable "aurora_engine_version" {
  description = "Aurora PostgreSQL engine version."
  type        = string
  default     = "16.6"
}

variable "aurora_instance_class" {
  description = "Instance class of the writer and readers."
  type        = string
  default     = "db.r6g.xlarge"
}

variable "aurora_reader_count" {
  description = "Aurora readers besides the writer (seed: 8 at peak)."
  type        = number
  default     = 8

  validation {
    condition     = var.aurora_reader_count >= 1 && var.aurora_reader_count <= 15
    error_message = "aurora_reader_count must be 1-15 (at least one reader to fail over to)."
  }
}

variable "aurora_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery)."
  type        = number
  default     = 14

  validation {
    condition     = var.aurora_backup_retention_days >= 7 && var.aurora_backup_retention_days <= 35
    error_message = "aurora_backup_retention_days must be 7-35."
  }
}

variable "database_name" {
  description = "Database of the engine."
  type        = string
  default     = "tiketi"
}

variable "database_master_username" {
  description = "Master user of the cluster (the engine connects as this user)."
  type        = string
  default     = "tiketi"
}

# --- ElastiCache Redis -------------------------------------------------------------------

variable "redis_engine_version" {
  description = "Redis OSS engine version."
  type        = string
  default     = "7.1"
}

variable "redis_parameter_group_family" {
  description = "Parameter group family of redis_engine_version."
  type        = string
  default     = "redis7"
}

variable "redis_node_type" {
  description = "Node type of every shard primary and replica."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_shard_count" {
  description = "Shards of the Redis cluster (seed: 6)."
  type        = number
  default     = 6

  validation {
    condition     = var.redis_shard_count >= 1 && var.redis_shard_count <= 500
    error_message = "redis_shard_count must be 1-500."
  }
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard (at least one, in another zone, for automatic failover)."
  type        = number
  default     = 1

  validation {
    condition     = var.redis_replicas_per_shard >= 1 && var.redis_replicas_per_shard <= 5
    error_message = "redis_replicas_per_shard must be 1-5."
  }
}

variable "gcs_redis_node_type" {
  description = "Node type of the Redis behind Ray's GCS fault tolerance (cluster metadata only)."
  type        = string
  default     = "cache.m7g.large"
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots kept."
  type        = number
  default     = 7
}

# --- Edge --------------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate (in var.region) of the ALB's HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener: TLS 1.3 and 1.2 (ELBSecurityPolicy-TLS13-1-3-2021-06 for TLS 1.3 only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "waf_rate_limit" {
  description = "Requests per client IP per evaluation window before WAF blocks (seed: 100/min)."
  type        = number
  default     = 100

  validation {
    condition     = var.waf_rate_limit >= 10
    error_message = "WAF rate-based rules need a limit of at least 10."
  }
}

variable "waf_rate_limit_window_sec" {
  description = "WAF rate-based evaluation window in seconds."
  type        = number
  default     = 60

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_limit_window_sec)
    error_message = "WAF evaluation windows are 60, 120, 300 or 600 seconds."
  }
}

variable "waf_allowed_country_codes" {
  description = "Countries allowed through the WAF (seed: Korea, United States, Japan)."
  type        = list(string)
  default     = ["KR", "US", "JP"]

  validation {
    condition     = length(var.waf_allowed_country_codes) > 0 && alltrue([for c in var.waf_allowed_country_codes : can(regex("^[A-Z]{2}$", c))])
    error_message = "waf_allowed_country_codes: ISO 3166-1 alpha-2 codes, e.g. KR."
  }
}

# --- In the cluster ----------------------------------------------------------------------

variable "kubernetes_namespace" {
  description = "Namespace of the engine's RayService."
  type        = string
  default     = "tiketi"
}

variable "env_secret_name" {
  description = "Kubernetes secret the engine's pods read their secrets from (kuberay/rayservice.yaml: tiketi-secrets)."
  type        = string
  default     = "tiketi-secrets"
}

variable "kuberay_chart_version" {
  description = "kuberay-operator chart (the project validates manifests against KubeRay 1.7.0 CRDs)."
  type        = string
  default     = "1.7.0"
}

variable "lb_controller_chart_version" {
  description = "aws-load-balancer-controller chart."
  type        = string
  default     = "1.11.0"
}

variable "external_secrets_chart_version" {
  description = "external-secrets chart (0.17+ serves the external-secrets.io/v1 API used here)."
  type        = string
  default     = "0.18.2"
}

variable "cluster_autoscaler_chart_version" {
  description = "cluster-autoscaler chart."
  type        = string
  default     = "9.43.2"
}

variable "cluster_autoscaler_image_tag" {
  description = "cluster-autoscaler image tag; keep its minor version equal to kubernetes_version."
  type        = string
  default     = "v1.33.0"
}

variable "install_monitoring" {
  description = "Install kube-prometheus-stack as release `prometheus` (the RayService manifest's PodMonitor and Grafana dashboard need it)."
  type        = bool
  default     = true
}

variable "kube_prometheus_stack_version" {
  description = "kube-prometheus-stack chart."
  type        = string
  default     = "69.4.1"
}

variable "deploy_workloads" {
  description = "Phase 2: apply the ExternalSecret, the RayService manifest and the TargetGroupBinding (needs the CRDs phase 1 installs)."
  type        = bool
  default     = false
}

variable "rayservice_manifest_path" {
  description = "Rendered RayService manifest; null means ../kuberay/rayservice.yaml next to this directory."
  type        = string
  default     = null
}
