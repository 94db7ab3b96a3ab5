"""The Salesforce connector: caller-ID lookup, search and call logging against one org.

Typical wiring in the composition root (which alone reads the environment)::

    crm = from_config(toml["crm"]["salesforce"], environ=os.environ)

or, built by hand::

    settings = SalesforceSettings(
        auth=PasswordAuth(
            "cti@acme.com",
            secret_from("CTI_SF_PASSWORD", environ=os.environ),
            secret_from("CTI_SF_TOKEN", environ=os.environ),
        ),
        domain="test",
        call_id_field="CTI_Call_Id__c",
    )
    crm = SalesforceCrm(settings)

docs/salesforce.md is the setup guide for a Salesforce administrator and lists every option.
"""

from __future__ import annotations

from crm_connectors.salesforce.config import SalesforceConfig, from_config, settings_from_config
from crm_connectors.salesforce.connector import SalesforceCrm
from crm_connectors.salesforce.failures import Backoff
from crm_connectors.salesforce.settings import (
    Auth,
    ConnectTo,
    JwtAuth,
    PasswordAuth,
    SalesforceSettings,
    Secret,
    SessionAuth,
    secret_from,
)
from crm_connectors.salesforce.transport import ConnectToAdapter, TimeoutAdapter, new_session

__all__ = [
    "Auth",
    "Backoff",
    "ConnectTo",
    "ConnectToAdapter",
    "JwtAuth",
    "PasswordAuth",
    "SalesforceConfig",
    "SalesforceCrm",
    "SalesforceSettings",
    "Secret",
    "SessionAuth",
    "TimeoutAdapter",
    "from_config",
    "new_session",
    "secret_from",
    "settings_from_config",
]
