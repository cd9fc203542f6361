"""The Batch v1 ``Job`` message tree as JSON field names and kinds, without importing ``google.*``.

Generated from google-cloud-batch 0.22.4 descriptors by ``python -m tests.unit.test_validate_schema``;
``tests/unit/test_validate_schema.py`` compares it with the installed client so it cannot drift.

Kinds: ``string``, ``bool``, ``int32``, ``int64``, ``Duration``, ``Timestamp``, ``enum:<Enum>``, or a
message name; ``[]`` marks a repeated field and ``map:<kind>`` a string-keyed map.
"""

from __future__ import annotations

#: The message a job document starts at.
ROOT = "Job"

MESSAGES: dict[str, dict[str, str]] = {
    "AllocationPolicy": {
        "location": "AllocationPolicy.LocationPolicy",
        "instances": "AllocationPolicy.InstancePolicyOrTemplate[]",
        "serviceAccount": "ServiceAccount",
        "labels": "map:string",
        "network": "AllocationPolicy.NetworkPolicy",
        "placement": "AllocationPolicy.PlacementPolicy",
        "tags": "string[]",
    },
    "AllocationPolicy.Accelerator": {
        "type": "string",
        "count": "int64",
        "installGpuDrivers": "bool",
        "driverVersion": "string",
    },
    "AllocationPolicy.AttachedDisk": {
        "newDisk": "AllocationPolicy.Disk",
        "existingDisk": "string",
        "deviceName": "string",
    },
    "AllocationPolicy.Disk": {
        "image": "string",
        "snapshot": "string",
        "type": "string",
        "sizeGb": "int64",
        "diskInterface": "string",
    },
    "AllocationPolicy.InstancePolicy": {
        "machineType": "string",
        "minCpuPlatform": "string",
        "provisioningModel": "enum:AllocationPolicy.ProvisioningModel",
        "accelerators": "AllocationPolicy.Accelerator[]",
        "bootDisk": "AllocationPolicy.Disk",
        "disks": "AllocationPolicy.AttachedDisk[]",
        "reservation": "string",
    },
    "AllocationPolicy.InstancePolicyOrTemplate": {
        "policy": "AllocationPolicy.InstancePolicy",
        "instanceTemplate": "string",
        "installGpuDrivers": "bool",
        "installOpsAgent": "bool",
        "blockProjectSshKeys": "bool",
    },
    "AllocationPolicy.LocationPolicy": {"allowedLocations": "string[]"},
    "AllocationPolicy.NetworkInterface": {
        "network": "string",
        "subnetwork": "string",
        "noExternalIpAddress": "bool",
        "nicType": "enum:AllocationPolicy.NetworkInterface.NicType",
    },
    "AllocationPolicy.NetworkPolicy": {"networkInterfaces": "AllocationPolicy.NetworkInterface[]"},
    "AllocationPolicy.PlacementPolicy": {"collocation": "string", "maxDistance": "int64"},
    "ComputeResource": {"cpuMilli": "int64", "memoryMib": "int64", "bootDiskMib": "int64"},
    "Environment": {
        "variables": "map:string",
        "secretVariables": "map:string",
        "encryptedVariables": "Environment.KMSEnvMap",
    },
    "Environment.KMSEnvMap": {"keyName": "string", "cipherText": "string"},
    "GCS": {"remotePath": "string"},
    "Job": {
        "name": "string",
        "uid": "string",
        "priority": "int64",
        "taskGroups": "TaskGroup[]",
        "allocationPolicy": "AllocationPolicy",
        "labels": "map:string",
        "status": "JobStatus",
        "createTime": "Timestamp",
        "updateTime": "Timestamp",
        "logsPolicy": "LogsPolicy",
        "notifications": "JobNotification[]",
    },
    "JobNotification": {"pubsubTopic": "string", "message": "JobNotification.Message"},
    "JobNotification.Message": {
        "type": "enum:JobNotification.Type",
        "newJobState": "enum:JobStatus.State",
        "newTaskState": "enum:TaskStatus.State",
    },
    "JobStatus": {
        "state": "enum:JobStatus.State",
        "statusEvents": "StatusEvent[]",
        "taskGroups": "map:JobStatus.TaskGroupStatus",
        "runDuration": "Duration",
    },
    "JobStatus.InstanceStatus": {
        "machineType": "string",
        "provisioningModel": "enum:AllocationPolicy.ProvisioningModel",
        "taskPack": "int64",
        "bootDisk": "AllocationPolicy.Disk",
    },
    "JobStatus.TaskGroupStatus": {"counts": "map:int64", "instances": "JobStatus.InstanceStatus[]"},
    "LifecyclePolicy": {
        "action": "enum:LifecyclePolicy.Action",
        "actionCondition": "LifecyclePolicy.ActionCondition",
    },
    "LifecyclePolicy.ActionCondition": {"exitCodes": "int32[]"},
    "LogsPolicy": {
        "destination": "enum:LogsPolicy.Destination",
        "logsPath": "string",
        "cloudLoggingOption": "LogsPolicy.CloudLoggingOption",
    },
    "LogsPolicy.CloudLoggingOption": {"useGenericTaskMonitoredResource": "bool"},
    "NFS": {"server": "string", "remotePath": "string"},
    "Runnable": {
        "container": "Runnable.Container",
        "script": "Runnable.Script",
        "barrier": "Runnable.Barrier",
        "displayName": "string",
        "ignoreExitStatus": "bool",
        "background": "bool",
        "alwaysRun": "bool",
        "environment": "Environment",
        "timeout": "Duration",
        "labels": "map:string",
    },
    "Runnable.Barrier": {"name": "string"},
    "Runnable.Container": {
        "imageUri": "string",
        "commands": "string[]",
        "entrypoint": "string",
        "volumes": "string[]",
        "options": "string",
        "blockExternalNetwork": "bool",
        "username": "string",
        "password": "string",
        "enableImageStreaming": "bool",
    },
    "Runnable.Script": {"path": "string", "text": "string"},
    "ServiceAccount": {"email": "string", "scopes": "string[]"},
    "StatusEvent": {
        "type": "string",
        "description": "string",
        "eventTime": "Timestamp",
        "taskExecution": "TaskExecution",
        "taskState": "enum:TaskStatus.State",
    },
    "TaskExecution": {"exitCode": "int32"},
    "TaskGroup": {
        "name": "string",
        "taskSpec": "TaskSpec",
        "taskCount": "int64",
        "parallelism": "int64",
        "schedulingPolicy": "enum:TaskGroup.SchedulingPolicy",
        "taskEnvironments": "Environment[]",
        "taskCountPerNode": "int64",
        "requireHostsFile": "bool",
        "permissiveSsh": "bool",
        "runAsNonRoot": "bool",
    },
    "TaskSpec": {
        "runnables": "Runnable[]",
        "computeResource": "ComputeResource",
        "maxRunDuration": "Duration",
        "maxRetryCount": "int32",
        "lifecyclePolicies": "LifecyclePolicy[]",
        "environments": "map:string",
        "volumes": "Volume[]",
        "environment": "Environment",
    },
    "Volume": {
        "nfs": "NFS",
        "gcs": "GCS",
        "deviceName": "string",
        "mountPath": "string",
        "mountOptions": "string[]",
    },
}

ENUMS: dict[str, dict[str, int]] = {
    "AllocationPolicy.NetworkInterface.NicType": {
        "NIC_TYPE_UNSPECIFIED": 0,
        "GVNIC": 1,
        "IRDMA": 2,
        "MRDMA": 3,
    },
    "AllocationPolicy.ProvisioningModel": {
        "PROVISIONING_MODEL_UNSPECIFIED": 0,
        "STANDARD": 1,
        "SPOT": 2,
        "PREEMPTIBLE": 3,
        "RESERVATION_BOUND": 4,
        "FLEX_START": 5,
    },
    "JobNotification.Type": {"TYPE_UNSPECIFIED": 0, "JOB_STATE_CHANGED": 1, "TASK_STATE_CHANGED": 2},
    "JobStatus.State": {
        "STATE_UNSPECIFIED": 0,
        "QUEUED": 1,
        "SCHEDULED": 2,
        "RUNNING": 3,
        "SUCCEEDED": 4,
        "FAILED": 5,
        "DELETION_IN_PROGRESS": 6,
        "CANCELLATION_IN_PROGRESS": 7,
        "CANCELLED": 8,
    },
    "LifecyclePolicy.Action": {"ACTION_UNSPECIFIED": 0, "RETRY_TASK": 1, "FAIL_TASK": 2},
    "LogsPolicy.Destination": {"DESTINATION_UNSPECIFIED": 0, "CLOUD_LOGGING": 1, "PATH": 2},
    "TaskGroup.SchedulingPolicy": {
        "SCHEDULING_POLICY_UNSPECIFIED": 0,
        "AS_SOON_AS_POSSIBLE": 1,
        "IN_ORDER": 2,
    },
    "TaskStatus.State": {
        "STATE_UNSPECIFIED": 0,
        "PENDING": 1,
        "ASSIGNED": 2,
        "RUNNING": 3,
        "FAILED": 4,
        "SUCCEEDED": 5,
        "UNEXECUTED": 6,
    },
}

ONEOFS: dict[str, tuple[tuple[str, ...], ...]] = {
    "AllocationPolicy.AttachedDisk": (("newDisk", "existingDisk"),),
    "AllocationPolicy.Disk": (("image", "snapshot"),),
    "AllocationPolicy.InstancePolicyOrTemplate": (("policy", "instanceTemplate"),),
    "Runnable": (("container", "script", "barrier"),),
    "Runnable.Script": (("path", "text"),),
    "Volume": (("nfs", "gcs", "deviceName"),),
}

#: Fields the server sets; in a create request they are ignored (message, field) -> why.
OUTPUT_ONLY: dict[tuple[str, str], str] = {
    ("Job", "name"): "the job name is {parent}/jobs/{job_id}; pass the job id to the create call instead",
    ("Job", "uid"): "the server assigns it",
    ("Job", "status"): "the server reports it",
    ("Job", "createTime"): "the server sets it",
    ("Job", "updateTime"): "the server sets it",
    ("TaskGroup", "name"): "the server names task groups (group0)",
}
