"""hookbus.plugins: plugins that ship with hookbus, built on the public hookbus.bus API only."""
