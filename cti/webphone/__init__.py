"""The phone in the agent desktop: which SIP registration the signed-in agent's page gets."""

from cti.webphone.registration import PhoneRegistration, WebPhones, registration_for

__all__ = ["PhoneRegistration", "WebPhones", "registration_for"]
