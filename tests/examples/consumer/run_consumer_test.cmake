# Installs the built project into a scratch prefix, then configures, builds and runs the consumer
# project against it. Invoked by ctest with -DSOURCE_DIR -DBUILD_DIR -DWORK_DIR -DCONSUMER_DIR.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}" RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${CONSUMER_DIR}" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=Release
                        "-DCMAKE_PREFIX_PATH=${prefix}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the consumer returned ${rc}")
endif()
# The installed Python package imports from the prefix alone (and validates a kernel there).
if(PYTHON)
  execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PYTHONPATH=${prefix}/${PYTHON_DIR}" --
                          "${PYTHON}" -c "import symbreak, sys; assert symbreak.__file__.startswith(sys.argv[1]), symbreak.__file__; import numpy as np; r = symbreak.validate(lambda q, k, v, p: np.zeros(p['out_shape'] if 'out_shape' in p else (p['batch'], p['heads'], p['n_q'], p['d_v']), np.float32), seeds=[1], cases=3, properties=['REFERENCE'], shrink_seconds=0, failure_dir='', raise_on_failure=False); assert not r.passed; print('installed symbreak at', symbreak.__file__)" "${prefix}"
                  RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "import symbreak from the installed prefix failed: ${rc}")
  endif()
endif()
