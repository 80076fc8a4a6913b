{{ engagement.stg_sailthru_lookup(
    'template', 'template_id',
    ['template_id', 'client_id', 'name', 'subject', 'create_time', 'modify_time', 'is_basic', 'label_ids'],
    time_columns=['create_time', 'modify_time']) }}
