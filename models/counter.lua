-- The counter of docs/models.md in Lua: the same commands, events, rejections and log bytes as
-- the built-in Swift `counter`, under its own name.
return {
    name = "lua-counter",
    state_version = 1,
    commands = {
        { type = "create", summary = "Creates the counter at 0; rejected if it exists." },
        { type = "increment", summary = "Adds 1; rejected unless the counter was created." },
    },

    decide = function(state, command)
        if command.type == "create" then
            if state ~= nil then reject("already created") end
            return { { type = "created" } }
        elseif command.type == "increment" then
            if state == nil then reject("not created") end
            if state.count == math.maxinteger then reject("count would overflow") end
            return { { type = "incremented", count = state.count + 1 } }
        end
    end,

    evolve = function(state, event)
        if event.type == "created" then
            return { count = 0 }
        elseif event.type == "incremented" then
            return { count = event.count }
        end
    end,
}
