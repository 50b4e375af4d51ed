/* chat widget: completed in the channels issue */
