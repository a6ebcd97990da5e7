-- The bank account of docs/models.md in Lua: the same commands, events, rejections and log bytes
-- as the built-in Swift `account`, under its own name. Money is in whole minor units.
local function active(state)
    if state == nil then reject("account not open") end
    if state.closed then reject("account closed") end
    return state
end

local function require_positive(amount)
    if amount <= 0 then reject("amount must be positive") end
end

return {
    name = "lua-account",
    state_version = 1,
    commands = {
        { type = "open", fields = { owner = "string" }, summary = "Opens the account for an owner." },
        { type = "deposit", fields = { amount = "integer" }, summary = "Adds a positive amount." },
        { type = "withdraw", fields = { amount = "integer" }, summary = "Takes a positive amount; rejected when funds are insufficient." },
        { type = "close", summary = "Closes the account; only at zero balance. Nothing works after." },
    },

    decide = function(state, command)
        local kind = command.type
        if kind == "open" then
            if state ~= nil then reject("account already open") end
            if command.owner == "" then reject("owner must not be empty") end
            return { { type = "opened", owner = command.owner } }
        elseif kind == "deposit" then
            state = active(state)
            require_positive(command.amount)
            if command.amount > math.maxinteger - state.balance then reject("balance would overflow") end
            return { { type = "deposited", amount = command.amount, balance = state.balance + command.amount } }
        elseif kind == "withdraw" then
            state = active(state)
            require_positive(command.amount)
            if command.amount > state.balance then
                reject(string.format("insufficient funds: balance %d, requested %d", state.balance, command.amount))
            end
            return { { type = "withdrawn", amount = command.amount, balance = state.balance - command.amount } }
        elseif kind == "close" then
            state = active(state)
            if state.balance ~= 0 then
                reject(string.format("balance must be zero to close (balance %d)", state.balance))
            end
            return { { type = "closed" } }
        end
    end,

    evolve = function(state, event)
        local next = state or { owner = "", balance = 0, closed = false }
        if event.type == "opened" then
            next.owner = event.owner
        elseif event.type == "deposited" or event.type == "withdrawn" then
            next.balance = event.balance
        elseif event.type == "closed" then
            next.closed = true
        end
        return next
    end,
}
