"""The export side: fixture feeds written exactly as each vendor writes them, from one seeded world, with the
ground truth that the mart must reproduce. Entry points: `feeds export` (command.py), `run.export`,
`world.build_world`, `apsis.render_export`, `encharge.post_events`."""
