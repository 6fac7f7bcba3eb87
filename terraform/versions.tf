# Terraform and provider versions, pinned exactly: an `init` months from now installs the
# providers this configuration was written and scanned against. Upgrade them on purpose, one
# at a time, and commit the `.terraform.lock.hcl` that `terraform init` writes.
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.40+ is needed for `evaluation_window_sec` in WAF rate-based rules.
      version = "5.100.0"
    }
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "2.36.0"
    }
    helm = {
      source = "hashicorp/helm"
      # 2.x: `kubernetes {}` and `set {}` are blocks (3.x turned them into attributes).
      version = "2.17.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "3.6.3"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "4.0.6"
    }
  }

  # The state holds the generated database password and Redis auth token: keep it in an
  # encrypted, versioned S3 bucket with locking. Partial configuration, completed at init:
  #   terraform init -backend-config=backend.hcl
  # (see README.md). `terraform init -backend=false` skips it for fmt/validate.
  backend "s3" {}
}
