{{ engagement.stg_sailthru_lookup(
    'lifecycle_optimizer_flow', 'flow_id',
    ['flow_id', 'client_id', 'name', 'version', 'create_time', 'modify_time'],
    time_columns=['create_time', 'modify_time']) }}
