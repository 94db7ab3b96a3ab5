"""The PBX admin console's logic: servers, trunks and DIDs, bulk provisioning, config generation.

Pure parts (:mod:`.sheet`, :mod:`.validate`, :mod:`.pbxconf`, :mod:`.trunks`) take values and
return values; :mod:`.services` builds one small service per concern on them (servers, trunks, DIDs,
provisioning, Asterisk config, history), wired to the store, the AMI sessions and the daemon.
"""
