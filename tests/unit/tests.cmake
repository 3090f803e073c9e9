# SPDX-License-Identifier: MIT
# One line per unit test: rbm_unit_test(test_<module> <library>)
rbm_unit_test(test_strutil rbm_base)
rbm_unit_test(test_stream rbm_stream)
rbm_unit_test(test_openstack_json rbm_openstack)
rbm_unit_test(test_openstack_config rbm_openstack)
rbm_unit_test(test_transport rbm_transport)
rbm_unit_test(test_plan rbm_core)
rbm_unit_test(test_json_in rbm_base)
