"""The PBX admin console's logic: servers, trunks and DIDs, bulk provisioning, config generation.

Pure parts (:mod:`.sheet`, :mod:`.validate`, :mod:`.pbxconf`, :mod:`.trunks`) take values and
return values; :mod:`.console` wires them to the store, the AMI sessions and the daemon.
"""
