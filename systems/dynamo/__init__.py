"""Our Dynamo node as one system among others: deployed from wheels, its client on the seam."""

from systems.dynamo.system import DynamoConfig, DynamoSystem, configure

__all__ = ["DynamoConfig", "DynamoSystem", "configure"]
