{{ engagement.stg_sailthru_lookup('label', 'label_id', ['label_id', 'name', 'client_id']) }}
