# RDS for PostgreSQL, Multi-AZ, encrypted, in the data subnets, reachable from the tasks only.
# The master user owns the schema and runs the migrations; the first migration creates the role
# bpo_app (no table ownership, no BYPASSRLS) that the api, worker and scheduler log in as, and
# `bpo migrate` sets that role's password from BPO_DATABASE_URL (secrets.tf).

resource "random_password" "db_owner" {
  length  = 40
  special = false
}

resource "random_password" "db_app" {
  length  = 40
  special = false
}

resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.data[*].id
}

resource "aws_db_parameter_group" "main" {
  name        = "${local.name}-pg${split(".", var.db_engine_version)[0]}"
  family      = "postgres${split(".", var.db_engine_version)[0]}"
  description = "BPO Ops: TLS only, SCRAM, RLS on, bounded idle transactions, statement statistics"

  # Connections without TLS are refused; the URLs in secrets.tf ask for it (?ssl=require).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "password_encryption"
    value = "scram-sha-256"
  }

  # Row-level security is the second tenant wall; it is on by default, and stays on.
  parameter {
    name  = "row_security"
    value = "1"
  }

  # A transaction left open (a crashed request) must not hold locks and a pooled connection for long.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  parameter {
    name  = "timezone"
    value = "UTC"
  }

  parameter {
    name         = "shared_preload_libraries"
    value        = "pg_stat_statements"
    apply_method = "pending-reboot"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "main" {
  identifier     = local.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  db_name  = "bpo"
  username = "bpo_owner"
  password = random_password.db_owner.result

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.main.arn

  multi_az               = true
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period    = var.db_backup_retention_days
  backup_window              = "17:00-18:00"
  maintenance_window         = "sun:18:30-sun:19:30"
  copy_tags_to_snapshot      = true
  deletion_protection        = var.db_deletion_protection
  skip_final_snapshot        = false
  final_snapshot_identifier  = "${local.name}-final"
  auto_minor_version_upgrade = true

  performance_insights_enabled    = true
  performance_insights_kms_key_id = aws_kms_key.main.arn
  enabled_cloudwatch_logs_exports = ["postgresql"]
}

# ElastiCache for Redis: the job broker, login rate limits, scheduler leadership. TLS in transit,
# an auth token, encrypted at rest, a replica in another zone with automatic failover.

resource "random_password" "redis_auth" {
  length  = 64
  special = false
}

resource "aws_elasticache_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.data[*].id
}

resource "aws_elasticache_parameter_group" "main" {
  name   = "${local.name}-redis7"
  family = "redis7"

  # A job broker must never evict messages to make room.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = local.name
  description          = "BPO Ops broker, rate limits and scheduler leadership"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.main.name
  subnet_group_name    = aws_elasticache_subnet_group.main.name
  security_group_ids   = [aws_security_group.redis.id]

  num_cache_clusters         = 2
  automatic_failover_enabled = true
  multi_az_enabled           = true

  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.main.arn

  snapshot_retention_limit = 7
  snapshot_window          = "16:00-17:00"
  maintenance_window       = "sun:19:30-sun:20:30"
}
